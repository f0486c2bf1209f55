"""The Celery worker: ``celery -A worker worker`` finds the app in :mod:`worker.celery`.

A worker process runs ``handle_event`` (:mod:`worker.dispatch`: the bot on one
notification) and ``post_reply`` (:mod:`worker.replies`: each reply posted
exactly once, in its chat's order), each as the bot installation the work
belongs to (:mod:`worker.installations`: its client, token and directory);
:mod:`worker.task` is the one base class that decides retries and dead
letters for both, and :mod:`worker.errors` holds the worker's own errors;
:mod:`worker.bots` names the bot it runs, which it loads at start (without
one it refuses to start).
"""
