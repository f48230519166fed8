"""Template tags of the fieldsync pages: the navigation and the fields a DAV server cannot hold.

Entry points like the views: they may import any fieldsync feature; nothing imports them.
"""
