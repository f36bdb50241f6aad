"""Features decoded from brain activity: bdpy's feature trees reconstructed as the KamitaniLab's cookbook does.

``inputs.py`` reads a tree's features per image and layer, NaN filled and scaled (``scaling.py``, bdpy's
``normalize_feature``); ``generators.py`` loads the generator (the lab's torch files as they are, or
invertnet's); ``fg.py`` is FG (features straight through the generator), ``icnn.py`` iCNN (the
generator's input optimised to match an encoder's features); ``scores.py`` the lab's scores (pixel
pattern correlation, pairwise identification).
"""
