"""The service's own database: where its SQL runs (`database`), its tables (`schema`) and the
migrations that bring a database to them (`migrations`).

Every provider uses it for what the service keeps itself, one-time codes and the mail outbox;
the local provider keeps its users, sessions and signing keys there too. `DATABASE_URL` names
it: a SQLite file by default, PostgreSQL when several replicas share it.
"""
