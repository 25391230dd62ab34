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
        self._initial_settings = Settings(
            issuer=config.default_issuer,
            jwt_exp=config.jwt_exp,
            mailer_otp_exp=config.mailer_otp_exp,
        )
        self.settings = self._initial_settings.copy()
        self.keys = KeyManager(config.mode, config.jwt_secret)
        self.store = Store()
        self.faults = FaultSlot()
        self.limiter = TokenBucketLimiter()  # GOTRUE_RATE_LIMIT_TOKEN_REFRESH: all of /token
        # Reference part 1 §6: GOTRUE_RATE_LIMIT_VERIFY (/verify) and GOTRUE_RATE_LIMIT_OTP
        # (PUT /user among the modelled endpoints). Off by default, like the /token one.
        self.verify_limiter = TokenBucketLimiter()
        self.otp_limiter = TokenBucketLimiter()
        self.stats = Stats()

    def reset(self) -> None:
        self.settings = self._initial_settings.copy()
        self.keys.reset()
        self.store.clear()
        self.faults.fault = None
        self.limiter.configure(None)
        self.verify_limiter.configure(None)
        self.otp_limiter.configure(None)
        self.stats.clear()
