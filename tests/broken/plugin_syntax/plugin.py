from ipcgrader import hookimpl
def broken(:
    pass
