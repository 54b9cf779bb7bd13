"""Continuous improvement: post-implementation reviews, improvement actions and whether an action worked."""
