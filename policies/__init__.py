"""Policies: given a request and what has been observed so far, choose an operating point."""

from policies.base import NetworkView, Policy, PolicyContext
from policies.registry import POLICIES, make_policies, make_policy

__all__ = ["POLICIES", "NetworkView", "Policy", "PolicyContext", "make_policies", "make_policy"]
