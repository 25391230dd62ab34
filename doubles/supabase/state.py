"""Everything one double instance knows, and how `reset` restores it."""

from __future__ import annotations

from .config import DoubleConfig, Settings
from .faults import FaultSlot
from .keys import KeyManager
from .ratelimit import TokenBucketLimiter
from .stats import Stats
from .store import Store


class DoubleState:
    def __init__(self, config: DoubleConfig) -> None:
        self.config = config
        self._initial_settings = Settings(issuer=config.default_issuer, jwt_exp=config.jwt_exp)
        self.settings = self._initial_settings.copy()
        self.keys = KeyManager(config.mode, config.jwt_secret)
        self.store = Store()
        self.faults = FaultSlot()
        self.limiter = TokenBucketLimiter()
        self.stats = Stats()

    def reset(self) -> None:
        self.settings = self._initial_settings.copy()
        self.keys.reset()
        self.store.clear()
        self.faults.fault = None
        self.limiter.configure(None)
        self.stats.clear()
