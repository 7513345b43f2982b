"""Training: the simulated order manager (:mod:`.fill_model`), and the environment, PPO training and evaluation.

Submodules are imported on use: ``from kalshi_actor.training.fill_model import FillModel``.
"""
