"""The tasks: the N-body simulator, rotated MNIST, the symmetry groups acting on them, and the linear case
where the benefit of equivariance has an exact answer."""
