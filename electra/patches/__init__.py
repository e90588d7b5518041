"""Build-time patches the project applies to other packages (electra.commands.install_horovod)."""
