"""``mosaicgan ui``: a local web app (Gradio) over :mod:`mosaicgan.api`.

Every job it runs is the command line's own job function (so the safety gate applies
exactly as there); this package only lays out the page, keeps the uploaded and produced
files in a private temporary folder, and turns errors into one line in the page.
Gradio is imported by the modules of this package only.
"""
