"""The local control API (the seed's endpoints), served by the running tray app."""
