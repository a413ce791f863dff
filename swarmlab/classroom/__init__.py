"""The classroom on one server: a real JupyterHub for a class (`swarmlab classroom ...`).

    config.py    the classroom's folder and classroom.json (who, which ports, which limits)
    roster.py    the class list: names checked, accounts found or made, passwords handed out once
    install.py   jupyterhub from PyPI, configurable-http-proxy from npm into the classroom's prefix
    release.py   the lessons a student gets on first login (without solutions)
    hubconfig.py what jupyterhub_config.py does: PAM, LocalProcessSpawner, hooks, services, roles
    labs.py      a student's labs, seen and taken down as that student
    hub.py       the hub's process: start, stop (leaving nothing), status, its REST API
    teacher.py   the teacher's page: a JupyterHub service (HubOAuth)
    course.py    the nbgrader course: the lessons as assignments with solution regions and tests
                 (grading/), and nbgrader's workflow (generate, release, fetch, submit, collect,
                 autograde, feedback)
"""
