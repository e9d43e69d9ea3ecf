# 抢票系统 (script mode) — starter. Run: TICKET_FILE=ticket.json python ticket.py --buyers 4
# Each buyer searches (prints 查看了票数), then buys under a lock (prints 购买成功) or exits
# with status 1 when no ticket is left.
