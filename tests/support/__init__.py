"""What the tests share: accounts and sessions over HTTP (`accounts`), problem documents
(`problems`), the service in-process and as a process (`services`), PostgreSQL stores
(`postgres`), logs and metrics (`observability`) and capability skipping (`capabilities`).

tests/conftest.py only composes fixtures from these modules; tests import helpers from here,
never from conftest.py or from another test module."""
