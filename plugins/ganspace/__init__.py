"""GANSpace editing (Härkönen et al., NeurIPS 2020): principal directions of a generator's W (``ganspace``).

`pca.py` fits the PCA as the official ``decomposition.py`` does (harskish/ganspace,
estimator ``ipca`` on W samples), `editor.py` moves codes along its components,
`convert.py` imports the official ``.npz`` and PTI/e4e's ``ffhq_pca.pt``.
"""
