using DiffusionSharp.Compare;
using DiffusionSharp.Training;

namespace DiffusionSharp.Tests.Training;

public sealed class TrainingLogTests
{
    [Fact]
    public void ColumnsAreFoundByNameAndTheLastLineOfAStepWins()
    {
        using var dir = new TempFolder();
        File.WriteAllLines(TrainingLog.PathOf(dir.Path),
        [
            "step,loss,lr,grad_norm,step_seconds,loss_generator,grad_norm_generator",
            "1,1.5,0.001,NaN,0.5,0.7,NaN",
            "2,1.4,0.001,NaN,0.6,0.8,NaN",
            "3,1.3,0.001,NaN,0.7",            // a line from before the column existed
            "2,1.2,0.001,NaN,0.4,0.9,NaN",    // a resumed run re-logs step 2
            "4,1.1,0.001,NaN,0.3,1.0,NaN",
        ]);
        Assert.Equal(["loss", "loss_generator"], TrainingLog.LossColumns(dir.Path));
        Assert.Equal([(1, 1.5), (2, 1.2), (3, 1.3), (4, 1.1)], TrainingLog.Column(dir.Path, "loss"));
        Assert.Equal([(1, 0.7), (2, 0.9), (4, 1.0)], TrainingLog.Column(dir.Path, "loss_generator"));
        Assert.Equal([0.5, 0.4, 0.7], TrainingLog.Column(dir.Path, "step_seconds", upTo: 3).Select(r => r.Value));
        Assert.Empty(TrainingLog.Column(dir.Path, "loss_critic"));
        Assert.Empty(TrainingLog.Column(Path.Combine(dir.Path, "absent"), "loss"));
        Assert.Empty(TrainingLog.LossColumns(Path.Combine(dir.Path, "absent")));
    }

    [Fact]
    public void TheMovingAverageCoversEachFullWindow()
    {
        var rows = Enumerable.Range(1, 6).Select(i => (i, (double)i * i)).ToList();
        var (steps, values) = ComparisonPlots.MovingAverage(rows, 3);
        Assert.Equal([3.0, 4, 5, 6], steps);
        Assert.Equal([14 / 3.0, 29 / 3.0, 50 / 3.0, 77 / 3.0], values);
        Assert.Equal([1.0, 4, 9, 16, 25, 36], ComparisonPlots.MovingAverage(rows, 1).Values);
    }
}
