from installation.cli import main

main()
