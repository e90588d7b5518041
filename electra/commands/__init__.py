"""The user-facing programs: each module's ``main`` is a console command of the installed package (``electra-pretrain``,
``electra-squad``, ...; ``setup.py`` lists them) and is what ``run_scripts/*.py`` launch from a checkout.

A command module is imported after ``electra`` itself (its package), so TensorFlow's oneDNN setting is in place
before TensorFlow loads; TensorFlow, Keras and the data tools are imported inside ``main``.
"""
