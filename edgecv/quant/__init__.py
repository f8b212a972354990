"""int8 within an accuracy budget: which layers quantization hurts, and what each costs (``edgecv layers``)."""
