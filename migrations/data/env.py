from migrations.env import run

run("data")
