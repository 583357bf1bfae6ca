"""Framework integrations: :mod:`scheduler.contrib.flask` and :mod:`scheduler.contrib.django`.

Integrations only build a :class:`~scheduler.Scheduler` from the framework's configuration,
decide when to start and stop it, and wrap each run (Flask's app context, Django's database
connections). They add no scheduling logic of their own.
"""

from __future__ import annotations
