from migrations.env import run

run("compliance")
