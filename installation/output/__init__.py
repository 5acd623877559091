"""Video out to other software: every displayed frame to an NDI source (ndi.py) or a virtual
camera (virtual_camera.py), each on its own thread (threaded.py) so a slow or failing receiver
never holds the frame loop. `installation/outputs.py` is the show's part that feeds them."""
