from mofa.cli import main

main()
