"""Tests of the development doubles (doubles/)."""
