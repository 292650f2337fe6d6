"""Credentials material of DatabaseUsers.

* :mod:`~dbops.secrets.password` — password generation per PasswordConfig.
* :mod:`~dbops.secrets.naming` — default Secret names.
* :mod:`~dbops.secrets.template` — ``secretTemplate`` rendering (Go ``text/template`` compatible, via
  :mod:`~dbops.secrets.gotemplate`).
"""
