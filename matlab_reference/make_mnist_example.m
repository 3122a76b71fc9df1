% make_mnist_example.m - reference run of the toolbox's MNIST CNN example.
%
% Usage (from the repository root):
%   octave -q --no-gui matlab_reference/make_mnist_example.m TOOLBOX [MNIST_MAT]
% TOOLBOX is a checkout of DeepLearnToolbox (its CNN/ and util/ are put on
% the path); MNIST_MAT defaults to data/mnist_uint8.mat, which
% `python -m cnntoolbox mnist-mat data/mnist_uint8.mat` writes. In MATLAB, set the two variables
% toolbox_dir and mnist_mat by hand and run the script.
%
% Follows the setup of tests/test_example_CNN.m (6c5-2s-12c5-2s, alpha 1,
% batch 50, one epoch, rand('state', 0)) and saves mnist_example.mat next
% to this script.

here = fileparts(mfilename('fullpath'));
if exist('OCTAVE_VERSION', 'builtin')
  args = argv();
  if numel(args) >= 1, toolbox_dir = args{1}; end
  if numel(args) >= 2, mnist_mat = args{2}; end
  warning('off', 'Octave:shadowed-function');
end
if ~exist('toolbox_dir', 'var')
  error('give the toolbox folder as the first argument');
end
if ~exist('mnist_mat', 'var')
  mnist_mat = fullfile(here, '..', 'data', 'mnist_uint8.mat');
end
addpath(fullfile(toolbox_dir, 'util'));
addpath(fullfile(toolbox_dir, 'CNN'));
addpath(fullfile(here, 'recorder'));   % last addpath goes first: shadows randperm
global RANDPERM_LOG
RANDPERM_LOG = {};

load(mnist_mat);
train_x = double(reshape(train_x', 28, 28, 60000)) / 255;
test_x = double(reshape(test_x', 28, 28, 10000)) / 255;
train_y = double(train_y');
test_y = double(test_y');

rand('state', 0);
cnn.layers = {
    struct('type', 'i')
    struct('type', 'c', 'outputmaps', 6, 'kernelsize', 5)
    struct('type', 's', 'scale', 2)
    struct('type', 'c', 'outputmaps', 12, 'kernelsize', 5)
    struct('type', 's', 'scale', 2)
};
opts.alpha = 1;
opts.batchsize = 50;
opts.numepochs = 1;

net_setup = cnnsetup(cnn, train_x, train_y);
t0 = tic;
net_final = cnntrain(net_setup, train_x, train_y, opts);
train_seconds = toc(t0);
[er, bad] = cnntest(net_final, test_x, test_y);

kk = vertcat(RANDPERM_LOG{:});
rL = net_final.rL;
% keep the file small: drop the per-layer activations and deltas of the last batch
for l = 1 : numel(net_final.layers)
  net_final.layers{l} = rmfield(net_final.layers{l}, intersect({'a', 'd'}, fieldnames(net_final.layers{l})));
end
fprintf('er = %.4f, %d bad, cnntrain %.1f s, version %s\n', er, numel(bad), train_seconds, version());
save(fullfile(here, 'mnist_example.mat'), 'net_setup', 'kk', 'rL', 'net_final', 'er', 'bad', '-v7');
