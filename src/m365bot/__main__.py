from m365bot.cli.main import main

main()
