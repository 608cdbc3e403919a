# An image folder (DATA_ROOT); boxes from a JSON file inside it ({"img.jpg": [x1, y1, x2, y2]}) or the whole image.
_base_ = ['./h36m_hrnet_w32.py']
dataset = dict(_delete_=True, type='images', name='images', boxes=None)
