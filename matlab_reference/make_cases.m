% make_cases.m - reference cases for the Python port, made by the original toolbox.
%
% Usage (from the repository root):
%   octave -q --no-gui matlab_reference/make_cases.m TOOLBOX [NAME ...]
% TOOLBOX is a checkout of DeepLearnToolbox (its CNN/ and util/ are put on
% the path); NAMEs, if given, remake only those cases. In MATLAB, set
% toolbox_dir (and optionally only_cases, a cell of names) by hand and run
% the script.
% Writes case_<name>.mat next to this script; see README.md for the contents.

here = fileparts(mfilename('fullpath'));
if exist('OCTAVE_VERSION', 'builtin')
  args = argv();
  if numel(args) >= 1, toolbox_dir = args{1}; end
  if numel(args) >= 2, only_cases = args(2 : end); end
  warning('off', 'Octave:shadowed-function');
end
if ~exist('toolbox_dir', 'var')
  error('give the toolbox folder as the first argument');
end
addpath(fullfile(toolbox_dir, 'util'));
addpath(fullfile(toolbox_dir, 'CNN'));
addpath(here);                         % run_case.m
addpath(fullfile(here, 'recorder'));   % added last, so first: shadows randperm

I = struct('type', 'i');
C = @(maps, ks) struct('type', 'c', 'outputmaps', maps, 'kernelsize', ks);
S = @(scale) struct('type', 's', 'scale', scale);
O = @(alpha, batchsize, numepochs) struct('alpha', alpha, 'batchsize', batchsize, 'numepochs', numepochs);

% name, seed, [rows cols], layers, onum, m, opts, labels, test m, zero frame
cases = {
  'gradcheck', 1, [28 28], {I; C(2, 5); S(2); C(2, 5); S(2)},  10,  5, O(1, 5, 3),    'rand',    5, 0
  'mnist',     2, [28 28], {I; C(6, 5); S(2); C(12, 5); S(2)}, 10,  4, O(1, 2, 2),    'onehot',  4, 8
  'nonsquare', 3, [20 16], {I; C(3, 5); S(2); C(4, 3); S(2)},   4,  8, O(1, 4, 2),    'onehot',  8, 0
  'lastconv',  4, [16 16], {I; C(2, 5); S(2); C(3, 3)},         3, 12, O(1, 4, 2),    'onehot', 12, 0
  'sfirst',    5, [28 28], {I; S(2); C(3, 5); S(2)},            5,  8, O(1, 4, 2),    'onehot',  8, 0
  'scale3',    6, [21 21], {I; C(2, 4); S(3); C(2, 3); S(2)},   4,  8, O(1, 4, 2),    'onehot',  8, 0
  'onebyone',  7, [12 12], {I; C(2, 5); S(2); C(3, 3); S(2)},   3, 12, O(1, 4, 2),    'onehot', 12, 0
  'epochs',    8, [12 12], {I; C(2, 3); S(2); C(2, 2); S(2)},   4, 40, O(0.5, 10, 3), 'onehot', 20, 0
  'onlyinput', 9, [10 8],  {I},                                 3,  8, O(1, 4, 2),    'onehot',  8, 0
};
if ~exist('only_cases', 'var')
  only_cases = cases(:, 1);
end

for c = find(ismember(cases(:, 1), only_cases))'
  out_file = fullfile(here, ['case_' cases{c, 1} '.mat']);
  run_case(out_file, cases{c, 2 : end});
  fprintf('%s written\n', out_file);
end
