# starter: complete task(lock)

def task(lock):
    pass
