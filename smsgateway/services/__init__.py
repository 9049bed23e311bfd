"""Domain operations shared by USSD menus, SMS commands, the dashboard and the CLI.

Functions take an open session and never commit: the caller owns the transaction.
"""
