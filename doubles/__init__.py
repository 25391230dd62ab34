"""Development doubles of the services auth-backend talks to (not shipped in the wheel)."""
