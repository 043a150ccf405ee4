"""The Streamlit app (`news-search app`): the search page (home) and three pages around it.

- Search (`/`): query, filters, results that say why they rank where they do.
- Corpus map (`/map`): every article as a point of a 2D projection of its vector.
- Why this result (`/explain`): the query x passage token heatmap, marked spans, ranking breakdown.
- Compare (`/compare`): one query under each mode (and a second model's index), plus the evaluation.

Each page keeps its state in the URL, so any view can be shared as a link. The pages live in
`search_app/views/`; this file only registers them (st.navigation keeps search the home page).
"""

from __future__ import annotations

import streamlit as st

from search_app.common import CSS

PAGES = [
    st.Page("views/search.py", title="Search", icon=":material/search:", default=True),
    st.Page("views/map.py", title="Corpus map", icon=":material/scatter_plot:", url_path="map"),
    st.Page("views/explain.py", title="Why this result", icon=":material/manage_search:", url_path="explain"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
]

st.set_page_config(page_title="Transfer news search", page_icon="⚽", layout="centered")
st.markdown(CSS, unsafe_allow_html=True)
st.navigation(PAGES, position="top").run()
