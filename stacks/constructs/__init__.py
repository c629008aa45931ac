"""Constructs used by the stacks, one concern each; Lambda runtime code sits beside the construct that deploys it."""
