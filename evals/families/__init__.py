"""Feature families: groups of latents that a general (dense) parent latent and its specific
(sparser) children form in the co-occurrence graph of one SAE (``just families <corpus>``)."""
