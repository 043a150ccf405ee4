from news_search.cli import main

main()
