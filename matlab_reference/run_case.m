function run_case(out_file, seed, mapsize, layers, onum, m, opts, label_kind, mtest, border)
% RUN_CASE  Run one reference case through the original toolbox and save it.
%   run_case(OUT_FILE, SEED, [ROWS COLS], LAYERS, ONUM, M, OPTS, LABEL_KIND, MTEST, BORDER)
%   draws M random input maps in [0, 1], zero on a frame BORDER pixels wide
%   (like the empty margin of an MNIST digit; it also lets the file compress),
%   and labels ('onehot' or 'rand'), then saves the net after each stage (cnnsetup, cnnff, cnnbp,
%   cnnapplygrads, cnntrain), the permutations cnntrain drew and cnntest's
%   result on a separate one-hot test batch of MTEST samples.
%   Needs the toolbox's CNN/ and util/ and recorder/randperm.m on the path.
  global RANDPERM_LOG
  rand('state', seed);
  x = framed(rand([mapsize m]), border);
  if strcmp(label_kind, 'rand')
    y = rand(onum, m);
  else
    y = onehot(onum, m);
  end
  test_x = framed(rand([mapsize mtest]), border);
  test_y = onehot(onum, mtest);

  net_setup = cnnsetup(struct('layers', {layers}), x, y);
  net_ff = cnnff(net_setup, x);
  net_bp = cnnbp(net_ff, y);
  net_grads = cnnapplygrads(net_bp, opts);
  RANDPERM_LOG = {};
  net_train = cnntrain(net_setup, x, y, opts);
  kk = vertcat(RANDPERM_LOG{:});
  [er, bad] = cnntest(net_train, test_x, test_y);
  save(out_file, 'x', 'y', 'opts', 'net_setup', 'net_ff', 'net_bp', ...
       'net_grads', 'net_train', 'kk', 'test_x', 'test_y', 'er', 'bad', '-v7');
end

function y = onehot(onum, m)
  labels = floor(rand(1, m) * onum) + 1;
  y = zeros(onum, m);
  y(sub2ind([onum m], labels, 1 : m)) = 1;
end

function x = framed(x, border)
  x([1 : border, end - border + 1 : end], :, :) = 0;
  x(:, [1 : border, end - border + 1 : end], :) = 0;
end
