"""``fast``: learned resampling at interpolation speed (issue #19).

Modules: ``resample`` (separable cubic / linear resampling at arbitrary pixel centres),
``network`` (the LR feature net and the phase bases), ``checkpoint`` (detection and loading),
``family`` (the registry entry).
"""
