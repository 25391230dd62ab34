"""A faithful HTTP test double of Supabase Auth (GoTrue behind its API gateway).

Written from shared/reference/supabase-auth-behaviour.md; see README.md in this folder."""

from .app import create_app
from .config import DoubleConfig
from .runner import SupabaseDouble, run_double

__all__ = ["DoubleConfig", "SupabaseDouble", "create_app", "run_double"]
