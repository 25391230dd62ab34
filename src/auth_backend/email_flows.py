"""The flows that mail a code: account recovery and email verification."""
