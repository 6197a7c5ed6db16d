"""Scenes made of many frames: panoramas from mast pointing, stereo anaglyphs, landing movies.

:mod:`farside.scenes.geometry` holds the camera model they share: a pinhole camera from the profile's
``[optics]`` (the label's values win), its orientation from the mast angles, and the mapping between pixels
and directions (azimuth, elevation) that panoramas are drawn in.

:mod:`farside.scenes.movie` makes movies of frame sequences (the landing camera's descent) in one streaming
pass, with the exposure of each frame smoothed in time by :mod:`farside.scenes.deflicker`.
"""
