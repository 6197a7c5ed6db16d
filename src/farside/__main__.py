from farside.cli import run

run()
