from ipcgrader import hookimpl


@hookimp
def ipcgrader_exercise_loaded(exercise, exercise_dir):
    pass
