"""The attack, split as TextAttack splits it: goal (goals.py), constraints and
transformations (protocols.py, implemented by plugins), search (search.py, Algorithm 1),
and the batched, cached model access they share (engine.py). campaign.py runs many trials."""
