"""The Supabase identity provider: Supabase Auth over HTTP (`client`, with its error answers
mapped in `errors`), access tokens verified locally against the project's keys (`keys`)."""

from auth_backend.providers.supabase.provider import SupabaseProvider

__all__ = ["SupabaseProvider"]
