"""Mail: the outbox (durable, claimed by any replica), its worker, the transports (SMTP, or
.eml files for development) and the templates every provider's mail is rendered from."""
