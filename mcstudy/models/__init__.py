"""The Monte Carlo models, one sub-package each of the same shape (``params``, ``kernels``,
``model``); ``base`` is their interface, ``contract`` their declarations, ``shared`` the
parameter groups they share and ``registry`` the list of models."""
