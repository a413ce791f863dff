"""A classroom: the lessons for many students on a shared server, and grading them.

    course.py   the nbgrader course: the lessons as assignments with solution regions and
                tests (grading/), and nbgrader's workflow (generate, release, fetch, submit,
                collect, autograde, feedback)
"""
