"""A Flask app with a process job, imported by name in the worker process (which builds its
own app from this module: the test checks the job ran in that app's context)."""

from __future__ import annotations

import os

from flask import Flask, current_app

from scheduler.contrib.flask import FlaskScheduler

app = Flask(__name__)
app.config["GREETING"] = "hello from the app"
ext = FlaskScheduler(app)  # autostart: the worker's import must not start a scheduler


@ext.job("0 0 1 1 *", id="greet", executor="process")
def greet() -> tuple[str, int, str]:
    sched = ext.get_scheduler(current_app)
    return current_app.config["GREETING"], os.getpid(), sched.state
